"""OCR engines: a callable from a page image to the words read on it."""

from __future__ import annotations

from pipeline.ocr.tesseract import OcrEngine, TesseractEngine, words_to_text

__all__ = ["OcrEngine", "TesseractEngine", "words_to_text"]
