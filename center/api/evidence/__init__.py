"""Evidence files: upload, read (audited) and retention."""
