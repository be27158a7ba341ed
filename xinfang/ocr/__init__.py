"""Paper letters: scanned images and PDFs to text with per-line OCR confidences (the `ocr` extra)."""
