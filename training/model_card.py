"""README.md of a model folder: Hugging Face model-card metadata (YAML header) and a body, from model_card.json."""

from __future__ import annotations

from typing import Any

from huggingface_hub import EvalResult, ModelCardData

from xinfang.schema import Schema

HF_LICENCES = {"mit": "mit", "apache-2.0": "apache-2.0", "bsd-3-clause": "bsd-3-clause", "cc-by-4.0": "cc-by-4.0"}
OWN = "project's own"


def hf_licence(card: dict[str, Any]) -> tuple[str, str | None]:
    """The base's licence id when it and every data source are openly licensed (or the project's own);
    otherwise 'other' (the body lists each licence)."""
    base = HF_LICENCES.get(str(card["base"].get("licence", "")).lower())
    data = [str(s.get("licence", "")) for s in card["data"]["sources"].values()]
    if base and all(d.lower() in HF_LICENCES or d.startswith(OWN) for d in data):
        return base, None
    return "other", "xinfang-mixed"


def _f(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, int | float) else "–"


def _metric_sets(card: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [("dev", card["metrics"]["dev"]), *card["metrics"]["test"].items()]


def eval_results(card: dict[str, Any]) -> list[EvalResult]:
    """model-index: accuracy and macro-F1 per head and evaluation set."""
    out = []
    for set_name, metrics in _metric_sets(card):
        split = "validation" if set_name == "dev" else "test"
        for head, m in metrics.items():
            dataset = "+".join(m.get("sources") or [set_name])
            for metric, value in (("accuracy", m.get("accuracy")), ("f1", m.get("macro", {}).get("f1"))):
                if isinstance(value, int | float) and value == value:  # NaN: nothing to report
                    label = "macro-F1" if metric == "f1" else metric
                    out.append(EvalResult(
                        task_type="text-classification", task_name=f"{head} ({m.get('data', '')} letters)",
                        dataset_type=dataset, dataset_split=split,
                        dataset_name=set_name if set_name == dataset else f"{set_name}: {dataset}",
                        metric_type=metric, metric_value=round(float(value), 4), metric_name=f"{head} {label}"))
    return out


def card_data(card: dict[str, Any]) -> ModelCardData:
    licence, licence_name = hf_licence(card)
    base = card["base"].get("hub_id") or card["base"].get("upstream")
    return ModelCardData(
        language="zh", license=licence, license_name=licence_name, library_name="transformers",
        pipeline_tag="text-classification", base_model=base, datasets=sorted(card["data"]["sources"]),
        tags=["onnx", "text-classification", "multi-label", "chinese", "xinfang", "letters-and-visits"],
        model_name=f"{card['name']}/{card['version']}", eval_results=eval_results(card) or None)


def _started_from(card: dict[str, Any]) -> str:
    start = card.get("started_from") or {"from": "base"}
    if start["from"] == "base":
        return "the base encoder's weights (heads initialised at random)"
    sha = start["weights_sha256"]
    return (f"the torch weights of the earlier model `{start['model']}` (`model.safetensors` sha256 "
            f"`{sha['model.safetensors']}`, `heads.safetensors` `{sha['heads.safetensors']}`); "
            f"{start.get('dev_letters_it_trained_on', 0)} of this run's dev letters were in its training set")


def body(card: dict[str, Any], schema: Schema) -> str:
    base, data, tr = card["base"], card["data"], card["training"]
    name = f"{card['name']}/{card['version']}"
    heads = ", ".join(f"`{h.name}` ({h.kind.value}" + (")" if h.kind.value == "binary" else f", {h.n_outputs} classes)")
                      for h in schema.heads)
    lines = [
        f"# {name}", "",
        "Triage of Chinese complaint and report letters (信访举报): one shared encoder with a head per question "
        f"of schema `{schema.name}` v{schema.version}: {heads}. Served as ONNX (fp32 and int8) by onnxruntime; "
        "the torch weights are kept beside it in the transformers layout.", "",
        f"- Base encoder: **{base.get('name')}** ({base.get('licence')}); {base.get('description', '')}".rstrip("; "),
        f"- Encoder depth: {card['profile'].get('encoder_layers') or 'all'} layers; pooling "
        f"{base.get('pooling', 'mean')}; profile `{card['profile']['name']}`",
        f"- Training started from {_started_from(card)}",
        f"- Trained {tr['steps']} steps ({tr['epochs']} epochs) in {tr['seconds']} s; created {card['created']}",
    ]
    if base.get("production_use_allowed") is False:
        lines.append("- **Research use only**: the base's licence does not allow production use.")
    lines += ["", "## Data", "", "| source | real or generated | train | dev | licence |", "|---|---|---|---|---|"]
    counts = data["counts"]
    for src, info in data["sources"].items():
        lines.append(f"| {src} | {info.get('kind', '')} | {counts.get('train', {}).get(src, 0)} | "
                     f"{counts.get('dev', {}).get(src, 0)} | {info.get('licence', 'unknown')} |")
    lines += ["", card["metrics"].get("note", ""), "", "## Figures per head", ""]
    for set_name, metrics in _metric_sets(card):
        where = "dev (early stopping and calibration; torch)" if set_name == "dev" else \
            f"held-out `{set_name}` (int8 ONNX, the served path)"
        lines += [f"{where}:", "", "| head | data | n | accuracy | macro-F1 | micro-F1 | ECE |",
                  "|---|---|---|---|---|---|---|"]
        for head, m in metrics.items():
            lines.append(f"| {head} | {m.get('data', '')} | {m.get('n', 0)} | {_f(m.get('accuracy'))} | "
                         f"{_f(m.get('macro', {}).get('f1'))} | {_f(m.get('micro', {}).get('f1'))} | "
                         f"{_f(m.get('ece'))} |")
        lines.append("")
    lines += ["## Timings (seconds)", "", " · ".join(f"{k.removesuffix('_s')} {v}" for k, v in
                                                    card["timings_s"].items()), ""]
    lines += [
        "## Use", "", "```sh",
        f"xinfang serve --model {name}          # scoring API (onnxruntime, no torch)",
        f"xinfang classify letters.jsonl --model {name} -o results.jsonl",
        f"xinfang train --from-model {name}     # continue training from these weights",
        "```", "",
        "The folder is also a transformers folder: `AutoModel.from_pretrained(folder)` loads the encoder "
        "(`config.json`, `model.safetensors`); `heads_config.json` gives each head's kind and "
        "`id2label`/`label2id`, `heads.safetensors` the heads' weights; `xinfang.training.model.MultiHeadModel.load(folder)` "
        "loads both. `model_card.json` holds every figure above.", ""]
    return "\n".join(lines)


def readme(card: dict[str, Any], schema: Schema) -> str:
    """README.md: the YAML metadata header, then the body."""
    return f"---\n{card_data(card).to_yaml()}\n---\n\n{body(card, schema)}"
