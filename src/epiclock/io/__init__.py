"""Reading and writing what the workflow exchanges: tables, sample sheets and matrices (``tables``), IDAT files
(``idat``), manifests (``manifest``), GEO files (``geo``), downloads (``download``) and the merged matrix (``merge``).
"""
