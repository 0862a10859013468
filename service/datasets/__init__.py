"""Dataset intake: streaming an upload to disk with a size limit, and first-line checks."""
