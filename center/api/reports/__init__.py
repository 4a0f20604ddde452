"""Report documents (PDF) and the records of those issued."""
