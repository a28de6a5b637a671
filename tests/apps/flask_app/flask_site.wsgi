from flaskapp import app as application
