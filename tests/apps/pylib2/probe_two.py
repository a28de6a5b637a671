WHERE = "pylib2"
