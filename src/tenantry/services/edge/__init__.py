"""edge: the only public listener; checks every request, forwards it to its home region."""
