"""What a station writes for a line's MES: a JSON record per unit (OpenHTF's layout), a CSV line log, JUnit."""
