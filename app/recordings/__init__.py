"""Voice recordings at rest: blob naming, the WAV format and the Blob Storage client (SOP 5.6, 6.7)."""
