"""Reports for Kominfo reviewers and leadership: monthly usage, link availability and blind
spots, as CSV with a Satu Data Indonesia style metadata header and as a PDF ready to sign."""
