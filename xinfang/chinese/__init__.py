"""Chinese text tools shared by the rule signals and the personal-data finder: words, lexicon, names, places."""
