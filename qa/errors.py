"""The errors qa raises; each message says how to fix the problem."""


class QAError(Exception):
    """Base of every error article-qa reports to a person."""


class ArticleError(QAError):
    """An article could not be read (empty, binary, undecodable, too large, malformed)."""


class ArticleNotFound(QAError):
    """No article with that id is indexed."""


class IndexLocked(QAError):
    """Another process owns the embedded index."""


class IndexMismatch(QAError):
    """The index was built with another embedding model."""


class StoreUnavailable(QAError):
    """Chroma cannot be reached or opened."""


class InvalidRequest(QAError):
    """A question or its parameters are out of bounds."""


class CitationError(QAError):
    """A citation does not match its article text; the answer is refused."""


class IndexEmpty(QAError):
    """Nothing is indexed yet, so there is nothing to answer from."""
