"""Wire formats of Blynk.Edgent and the Blynk device protocols: pure, I/O-free."""
