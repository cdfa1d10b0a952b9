#!/usr/bin/python3
"""screen_match.py - is a VM's screendump the GRUB menu of the test ISO?

    screen_match.py [-v] [--ref REF.png ...] SHOT     exit 0: it is; 1: it is not
    screen_match.py --self-test                      the matcher's own checks

SHOT is a PPM (QMP screendump) or PNG (tern vm screenshot).  The references
are screendumps of build-iso.sh's menu taken with plain QEMU and -device VGA:
screens/grub-iso-bios.png (VGA text mode, 720x400) and
screens/grub-iso-uefi.png (OVMF's text console on its 1280x800 GOP mode).
A shot matches a reference of the same size when

  - the whole screen agrees: the pixels that are not background ("ink",
    grey level more than 48 away from the region's commonest level) of shot
    and reference overlap with an intersection over union of at least 0.85
    (the countdown line and GRUB's version string may change), and
  - the title bar agrees: inside the highlighted entry's box, the letters
    of "TERN ISO TEST" (ink against the bar's grey) overlap at least 0.90,
    so another menu, a blank screen or kernel text do not pass.

Needs python3-pil (Debian).  Prints one line: "match REF whole=W title=T" or
"no match: ..." with the best scores.
"""
import argparse
import os
import sys

from PIL import Image, ImageDraw

HERE = os.path.dirname(os.path.abspath(__file__))
SCREENS = os.path.join(HERE, "screens")
# reference file -> the highlighted title bar (x0, y0, x1, y1), exclusive end
REFS = {
    "grub-iso-bios.png": (16, 64, 704, 80),
    "grub-iso-uefi.png": (254, 181, 1026, 200),
}
WHOLE_MIN = 0.85
TITLE_MIN = 0.90
INK_DELTA = 48


def gray(path_or_image):
    im = path_or_image
    if not isinstance(im, Image.Image):
        im = Image.open(im)
    return im.convert("L")


def ink(im, box):
    """The set of pixel offsets in box that stand out from its commonest level."""
    region = im.crop(box)
    hist = region.histogram()
    mode = max(range(256), key=lambda v: hist[v])
    data = region.tobytes()
    return {i for i, v in enumerate(data) if abs(v - mode) > INK_DELTA}


def iou(a, b):
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def score(shot, ref, title_box):
    """(whole, title) overlap scores of shot against ref; (0, 0) if sizes differ."""
    if shot.size != ref.size:
        return 0.0, 0.0
    full = (0, 0) + ref.size
    return iou(ink(shot, full), ink(ref, full)), iou(ink(shot, title_box), ink(ref, title_box))


def match(shot, refs):
    """(ok, message) for the best of refs [(name, image, box)]."""
    best = (-1.0, -1.0, None)
    for name, ref, box in refs:
        whole, title = score(shot, ref, box)
        if whole >= WHOLE_MIN and title >= TITLE_MIN:
            return True, "match %s whole=%.3f title=%.3f" % (name, whole, title)
        if (whole + title) > (best[0] + best[1]):
            best = (whole, title, name)
    if best[2] is None:
        sizes = ", ".join("%dx%d" % r[1].size for r in refs)
        return False, "no match: shot is %dx%d, references are %s" % (shot.size + (sizes,))
    return False, "no match: best %s whole=%.3f (min %.2f) title=%.3f (min %.2f)" % (
        best[2], best[0], WHOLE_MIN, best[1], TITLE_MIN)


def load_refs(paths):
    refs = []
    for p in paths:
        name = os.path.basename(p)
        if name not in REFS:
            sys.exit("screen_match: no title box known for %s (known: %s)" % (name, ", ".join(REFS)))
        refs.append((name, gray(p), REFS[name]))
    return refs


def self_test(refs):
    """Each reference matches itself; a changed countdown still matches; a
    blank screen, a changed title and plain console text do not."""
    failures = 0
    passes = 0

    def expect(what, im, want):
        nonlocal failures, passes
        ok, msg = match(im, refs)
        good = ok == want
        failures += 0 if good else 1
        passes += 1 if good else 0
        print("%s - %s: %s" % ("ok" if good else "not ok", what, msg))

    for name, ref, box in refs:
        expect(name + " itself", ref, True)
        countdown = ref.copy()
        d = ImageDraw.Draw(countdown)
        w, h = countdown.size
        d.rectangle((w // 3, box[3] + 40, w // 3 + 9, box[3] + 52), fill=200)  # a changed character in the menu box
        expect(name + " small change", countdown, True)
        expect(name + " blank", Image.new("L", ref.size, 0), False)
        other = ref.copy()
        d = ImageDraw.Draw(other)
        d.rectangle(box, fill=ref.getpixel((box[0] + 1, box[1] + 1)))
        d.text((box[0] + 12, box[1] + 2), "OTHER ISO MENU", fill=0)
        expect(name + " other title", other, False)
        text = Image.new("L", ref.size, 0)
        d = ImageDraw.Draw(text)
        for row in range(0, h, 16):
            d.text((0, row), "[    1.234567] Booting `TERN ISO TEST' ... Linux version 6.1.0", fill=200)
        expect(name + " console text", text, False)
    print("%d passed, %d failed" % (passes, failures))
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("shot", nargs="?", help="screendump, PPM or PNG")
    ap.add_argument("--ref", action="append", help="reference PNG (default: both in screens/)")
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    refs = load_refs(args.ref or [os.path.join(SCREENS, n) for n in sorted(REFS)])
    if args.self_test:
        return self_test(refs)
    if not args.shot:
        ap.error("give SHOT or --self-test")
    try:
        shot = gray(args.shot)
    except (OSError, ValueError) as e:
        print("screen_match: cannot read %s: %s" % (args.shot, e), file=sys.stderr)
        return 2
    ok, msg = match(shot, refs)
    print(msg)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
