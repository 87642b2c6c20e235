"""Configuration: the typed schema with each value's constraints (`brusim.config.schema`,
`brusim.config.constraints`), composition (`brusim.config.load`) and validation
(`brusim.config.validate`)."""
