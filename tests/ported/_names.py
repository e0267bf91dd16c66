"""A small made-up name list shared by the makemore-style scripts (not a real data set)."""

WORDS = """
ada alma anika aren bela bodhi cala cyrus dana delphine eli emre farah felix gita greta
hana hugo ines ivo jana jonas kaia kenji lena luca maren milo nadia niko olin oskar
pia priya quinn rafa rosa sami selma taro tilde uma uri vera viggo wren xena yara yusuf
zara zeno amara benno celia dario esme fenna
""".split()
