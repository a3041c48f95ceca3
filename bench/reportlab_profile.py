"""The peer of our profile PDF: ReportLab drawing the same fields with the
same DejaVu Sans fonts (embedded and subset, as ours are) on an A4 page.

    python bench/reportlab_profile.py PROFILE_JSON FONTS_DIR ITERATIONS [AVATAR_JPEG]

With AVATAR_JPEG, the avatar thumbnail is drawn at the top right (30 mm), as ours is.

Prints the median milliseconds per PDF and the size of one PDF in bytes.
"""
import io
import json
import statistics
import sys
import time

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.lib.utils import ImageReader, simpleSplit


def draw(profile, avatar=None):
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    c.setTitle("Profile of " + profile["title"])
    width, height = A4
    y = height - 20 * mm - 9 * mm
    if avatar is not None:
        c.drawImage(ImageReader(io.BytesIO(avatar)), width - 50 * mm, height - 46 * mm, 30 * mm, 30 * mm)
    c.setFont("DejaVu-Bold", 20)
    c.drawString(20 * mm, y, profile["title"])
    y -= 6 * mm
    c.setFont("DejaVu", 10)
    c.drawString(20 * mm, y, "User profile")
    y -= 5 * mm
    c.setStrokeColorRGB(0.75, 0.75, 0.75)
    c.line(20 * mm, y, width - 20 * mm, y)
    y -= 4 * mm
    for label, value in profile["fields"]:
        y -= 7 * mm
        c.setFont("DejaVu-Bold", 10)
        c.drawString(20 * mm, y, label)
        c.setFont("DejaVu", 11)
        for i, line in enumerate(simpleSplit(value, "DejaVu", 11, width - 20 * mm - 68 * mm)):
            if i:
                y -= 5.5 * mm
            c.drawString(68 * mm, y, line)
    if profile.get("bio"):
        y -= 12 * mm
        c.setFont("DejaVu-Bold", 10)
        c.drawString(20 * mm, y, "About")
        c.setFont("DejaVu", 11)
        for line in simpleSplit(profile["bio"], "DejaVu", 11, width - 40 * mm):
            y -= 5.5 * mm
            c.drawString(20 * mm, y, line)
    c.setFont("DejaVu", 8)
    c.drawString(20 * mm, 12 * mm, "Generated from profile version %d" % profile["version"])
    c.showPage()
    c.save()
    return out.getvalue()


def main():
    profile = json.load(open(sys.argv[1]))
    fonts = sys.argv[2]
    n = int(sys.argv[3])
    avatar = open(sys.argv[4], "rb").read() if len(sys.argv) > 4 else None
    pdfmetrics.registerFont(TTFont("DejaVu", fonts + "/DejaVuSans.ttf"))
    pdfmetrics.registerFont(TTFont("DejaVu-Bold", fonts + "/DejaVuSans-Bold.ttf"))
    for _ in range(min(n, 20)):
        draw(profile, avatar)
    samples = []
    size = 0
    for _ in range(n):
        start = time.perf_counter()
        size = len(draw(profile, avatar))
        samples.append((time.perf_counter() - start) * 1000)
    print("%.3f %d" % (statistics.median(samples), size))


if __name__ == "__main__":
    main()
