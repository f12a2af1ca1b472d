"""The one configuration object, read from QA_* environment variables and a .env file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_EMBED_MODEL = "packaged:all-MiniLM-L6-v2"


class Settings(BaseSettings):
    """Everything configurable. Built at each entry point and passed down, never global."""

    model_config = SettingsConfigDict(
        env_prefix="QA_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Field(Path("data"), description="Where the embedded index lives.")
    chroma_url: str | None = Field(
        None, description="http://host:port of a Chroma server; unset uses embedded Chroma."
    )
    collection_prefix: str = Field("qa", description="Prefix of the Chroma collection names.")
    embed_model: str = Field(
        DEFAULT_EMBED_MODEL,
        description="sentence-transformers model name or path; the default is the packaged "
        "all-MiniLM-L6-v2.",
    )
    embed_precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="auto uses bfloat16 where the CPU computes it natively."
    )
    embed_batch_size: int = Field(16, ge=1, le=1024)
    threads: int = Field(
        0,
        ge=0,
        description="Cores the models of this process share (a lone forward pass takes them "
        "all, concurrent passes one each); 0: torch's default, one a core. Fewer leaves cores "
        "to other processes: an ingest beside a server, test workers.",
    )
    ingest_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="How far `qa ingest` lowers its CPU priority (Unix nice), so a server on "
        "the same machine keeps answering while it runs; 0 keeps it as started.",
    )
    ingest_batch_articles: int = Field(
        128, ge=1, description="Articles embedded and written to the store together."
    )
    chunk_tokens: int = Field(
        0, ge=0, description="Largest chunk in word pieces; 0 uses the model's whole window."
    )
    answerer: Literal["extractive", "llm"] = "extractive"
    llm_provider: Literal["openai-like", "ollama", "llama-cpp"] = Field(
        "openai-like",
        description="How QA_ANSWERER=llm reaches its model: openai-like (any OpenAI-compatible "
        "/v1 at QA_LLM_URL: llama.cpp's server, vLLM, LM Studio, Ollama's /v1), ollama "
        "(Ollama's own API at QA_LLM_URL, default http://localhost:11434) or llama-cpp "
        "(a GGUF file at QA_LLM_MODEL, run in this process).",
    )
    llm_url: str | None = None
    llm_model: str | None = Field(
        None, description="The model's name on the server, or a GGUF path for llama-cpp."
    )
    llm_api_key: str | None = None
    llm_timeout_s: float = Field(120, gt=0, description="How long one LLM reply may take.")
    llm_max_tokens: int = Field(160, ge=16, description="Longest LLM reply, in tokens.")
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names the API answers to; unset: the loopback names and QA_HOST "
        "(any name when QA_HOST is a wildcard address such as 0.0.0.0); * allows any.",
    )
    max_upload_mb: float = Field(10, gt=0)
    max_upload_articles: int = Field(10_000, ge=1, description="Articles one upload may hold.")
    upload_job_articles: int = Field(
        50, ge=1, description="Uploads with more articles run as a background job (202)."
    )
    body_timeout_s: float = Field(
        30, gt=0, description="A request body that has not all arrived by then gets 408."
    )
    max_article_mb: float = Field(5, gt=0)
    max_question_chars: int = Field(2000, ge=1)
    max_history: int = Field(20, ge=0)
    top_k: int = Field(5, ge=1, le=50)
    abstain_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Confidence below which the answerer abstains; "
        "unset uses the calibrated default.",
    )
    sync_interval_s: float = Field(
        1.0, ge=0, description="How often a process looks for writes made by other processes."
    )
    host: str = "127.0.0.1"
    port: int = 8000

    @field_validator("api_keys", "cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def host_names(self) -> list[str]:
        """The Host header names the API accepts, lower case; ["*"] accepts any."""
        if self.allowed_hosts:
            return [h.lower() for h in self.allowed_hosts]
        if self.host in ("0.0.0.0", "::", ""):
            return ["*"]
        return sorted({"localhost", "127.0.0.1", "::1", self.host.lower().strip("[]")})

    @field_validator("chroma_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"QA_CHROMA_URL must look like http://host:port, got {value!r}")
        return value.rstrip("/")
