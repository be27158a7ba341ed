"""Text lines of a page image with their boxes and confidences: PP-OCR (detection, angle, recognition) on
onnxruntime, from the model files inside the rapidocr wheel (nothing is downloaded)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MODEL_FILES = {"Det": "PP-OCRv6_det_small.onnx", "Rec": "PP-OCRv6_rec_small.onnx",
               "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx"}
DET_MAX_SIDE = 1280
MIN_LINE_SCORE = 0.3  # lines the recogniser is less sure of are noise, not doubtful text


@dataclass(frozen=True)
class Line:
    """One recognised line: text, confidence (0-1), its box in page pixels (the line's own width and height
    around its centre, so a skewed line is not taller than it is) and the slope of its top edge (radians)."""

    text: str
    confidence: float
    x0: float
    y0: float
    x1: float
    y1: float
    angle: float = 0.0

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0


class Recognizer:
    """PP-OCR on onnxruntime; one instance per process (see get_recognizer), safe to call from threads."""

    def __init__(self, threads: int = 0):
        import rapidocr
        from rapidocr import RapidOCR

        models = Path(rapidocr.__file__).resolve().parent / "models"
        params: dict[str, object] = {f"{stage}.model_path": str(models / name) for stage, name in MODEL_FILES.items()}
        # no line-angle classifier: on noisy scans it turns good lines upside down (measured: a whole line lost
        # per few damaged pages), and letters are not written upside down line by line
        params.update({"Global.log_level": "error", "Global.text_score": MIN_LINE_SCORE, "Global.use_cls": False,
                       # detection on the page scaled to 1280 px at most (rapidocr's default grows it to the page's
                       # full size): 1.7x less CPU a page at the same character error rate (A4 at 150 dpi, damaged)
                       "Det.limit_type": "max", "Det.limit_side_len": DET_MAX_SIDE})
        if threads > 0:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
        for stage, name in MODEL_FILES.items():
            if not (models / name).is_file():
                raise FileNotFoundError(f"the rapidocr wheel lacks {name} ({stage}); reinstall the ocr extra")
        self._ocr = RapidOCR(params=params)
        self._lock = threading.Lock()

    def __call__(self, image: np.ndarray) -> list[Line]:
        """The lines found on an RGB page image, in the recogniser's order."""
        bgr = np.ascontiguousarray(image[:, :, ::-1])
        with self._lock:
            out = self._ocr(bgr)
        if out.boxes is None or out.txts is None:
            return []
        lines = []
        for box, text, score in zip(out.boxes, out.txts, out.scores, strict=True):
            if not text.strip():
                continue
            lines.append(_line(text.strip(), float(score), np.asarray(box, dtype=float)))
        return lines


def _line(text: str, score: float, quad: np.ndarray) -> Line:
    """A line from its quadrilateral (top-left, top-right, bottom-right, bottom-left)."""
    width = (np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    height = (np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    cx, cy = quad.mean(axis=0)
    angle = float(np.arctan2(quad[1][1] - quad[0][1], quad[1][0] - quad[0][0]))
    return Line(text, score, float(cx - width / 2), float(cy - height / 2), float(cx + width / 2),
                float(cy + height / 2), angle)


@lru_cache(maxsize=4)
def get_recognizer(threads: int = 0) -> Recognizer:
    """The process's recogniser (the models load once)."""
    return Recognizer(threads)
