"""Board families, one module each: the legacy Edgent sketches (`esp32`, `esp8266`, `wio_terminal`) and the
Blynk.NCP host with its network co-processor (`ncp`); each registered in `profile.py`."""
