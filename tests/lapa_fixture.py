"""The LaPa-layout generators the tests use (they live in faceseg.synthetic, which the benchmark uses too)."""

from faceseg.synthetic import (  # noqa: F401
    FASSEG_TO_LAPA,
    make_lapa,
    make_lapa_from_fasseg,
    synthetic_face,
)
