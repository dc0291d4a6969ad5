"""The tester side: the Lab, the Phone, artifacts and reports."""
