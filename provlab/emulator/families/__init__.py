"""The board families of the legacy Edgent sketches, one module each: `esp32`, `esp8266`, `wio_terminal`."""
