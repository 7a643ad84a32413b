"""Labelled data: a synthetic keyword set (`synth`) and a loader for folders of labelled files (`folder`)."""
