"""The toonfaces commands: `editgan demo`, `data toonfaces`, `train measures`, `bench quality`."""
