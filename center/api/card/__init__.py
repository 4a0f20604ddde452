"""全安码: the QR code of each enterprise and what its page shows."""
