"""Names of the coordinate formats, importable without loading any reader (the CLI's --help)."""

FORMATS = ("topaz", "csv", "star", "box", "eman2", "cs")
FORMAT_HELP = ("topaz (.txt), csv, star (RELION), box (EMAN2, corner + size), eman2 (EMAN2 "
               "<micrograph>_info.json), cs (cryoSPARC)")
