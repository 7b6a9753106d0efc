"""What every command shows people, in one voice: figures (bytes, durations, counts, mappings) and
tables whose identifier columns are never cut. Imports only Rich: the command line loads it at start-up."""
