"""`advisor batch`: many descriptions in, one durable result row per description out."""
