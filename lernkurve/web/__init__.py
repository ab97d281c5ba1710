"""The web side: the Flask app factory, the REST API, the Socket.IO stream and its security.
Never imports the training side: commands go into the database and the runs read them."""
