WHERE = "pylib1"
