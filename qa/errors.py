"""The errors qa raises; each message says how to fix the problem, and each class carries the
stable `code` that the HTTP API and the CLI's JSON report it under."""


class QAError(Exception):
    """Base of every error article-qa reports to a person."""

    code = "qa_error"


class ArticleError(QAError):
    """An article could not be read (empty, binary, undecodable, too large, malformed)."""

    code = "article_error"


class ArticleNotFound(QAError):
    """No article with that id is indexed."""

    code = "article_not_found"


class IndexLocked(QAError):
    """Another process owns the embedded index."""

    code = "index_locked"


class IndexMismatch(QAError):
    """The index was built with another embedding model."""

    code = "index_mismatch"


class StoreUnavailable(QAError):
    """Chroma cannot be reached or opened."""

    code = "store_unavailable"


class InvalidRequest(QAError):
    """A question or its parameters are out of bounds."""

    code = "invalid_request"


class CitationError(QAError):
    """A citation does not match its article text; the answer is refused."""

    code = "citation_error"


class IndexEmpty(QAError):
    """Nothing is indexed yet, so there is nothing to answer from."""

    code = "index_empty"


class ModelMismatch(QAError):
    """A shipped model file was trained on other features than this code computes."""

    code = "model_mismatch"
