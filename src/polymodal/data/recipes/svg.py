"""Rasterise vector artwork (SVG) to square RGB PNGs on white, with resvg.

Recipes built from SVG (emoji, icon themes) share this so that every image a recipe writes has
the same form: `size` x `size`, RGB, white where the artwork is transparent.
"""

from __future__ import annotations

import io
from pathlib import Path


def render_svg(svg: str | Path, size: int) -> bytes:
    """An SVG (its text, or a file path) as a `size` x `size` RGB PNG on white.

    resvg keeps the aspect ratio when given both sides, so a drawing that is not square comes back
    narrower or shorter: it is centred on the white square rather than stretched.
    """
    import resvg_py
    from PIL import Image

    source = {"svg_path": str(svg)} if isinstance(svg, Path) else {"svg_string": svg}
    png = resvg_py.svg_to_bytes(**source, background="white", width=size, height=size)
    rgba = Image.open(io.BytesIO(bytes(png))).convert("RGBA")
    white = Image.new("RGBA", (size, size), (255, 255, 255, 255))  # in case a pixel kept some alpha
    if rgba.size != (size, size):
        rgba.thumbnail((size, size))
        canvas = Image.new("RGBA", (size, size), (255, 255, 255, 0))
        canvas.paste(rgba, ((size - rgba.width) // 2, (size - rgba.height) // 2))
        rgba = canvas
    out = io.BytesIO()
    Image.alpha_composite(white, rgba).convert("RGB").save(out, format="PNG")
    return out.getvalue()
