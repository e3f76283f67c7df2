"""The mapping studio's logic, free of any web framework: versions of the mapping file, the forms'
reading and writing of its YAML, and the preview of edited rules on real payments."""
