#!/usr/bin/env python3
"""A sample of Unicode's NormalizationTest.txt for test.c's nfc group.

    python3 tools/make_nfc_cases.py UCD_DIR > tools/nfc_cases.txt

Reads UCD_DIR/NormalizationTest.txt (or .txt.bz2) and keeps, of each line,
the source and its NFC (columns 1 and 2, code points in hex): all of parts 0
and 3, every 5th line of part 2 (canonical ordering) and every 40th of part 1
(single characters, Hangul included). Python 3 stdlib only.
"""
import bz2
import os
import sys


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)
    path = os.path.join(d, "NormalizationTest.txt")
    f = open(path, encoding="utf-8") if os.path.exists(path) else bz2.open(path + ".bz2", "rt", encoding="utf-8")
    part, index = None, 0
    keep = {"@Part0": 1, "@Part1": 40, "@Part2": 5, "@Part3": 1}
    print("# source;NFC (from NormalizationTest.txt: %s)" % f.readline().strip("# \n"))
    for line in f:
        if line.startswith("@Part"):
            part, index = line.split()[0], 0
            continue
        if not line.strip() or line.startswith("#"):
            continue
        if index % keep[part] == 0:
            cols = line.split(";")
            print("%s;%s" % (cols[0], cols[1]))
        index += 1


if __name__ == "__main__":
    main()
