"""Code generators: IR in, files out. They never look at YAML."""
