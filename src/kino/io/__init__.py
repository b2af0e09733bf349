"""Video and image input/output helpers."""

from kino.io.video import contact_sheet, read_mp4, save_png, write_mp4

__all__ = ["contact_sheet", "read_mp4", "save_png", "write_mp4"]
