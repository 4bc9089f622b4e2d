"""pg_back's flat files read as backup sets: the way in for buckets that pg_back filled.

`naming` parses pg_back's object names (pure); `sets` groups them into runs and builds the
SetSummary and Manifest objects the rest of the engine reads; `checks` verifies them with the
checksum files pg_back wrote; `config` converts a pg_back.conf.
"""
