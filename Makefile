.PHONY: test release fuzz

test:
	./test.sh

release:
	scripts/release.sh

fuzz:
	scripts/fuzz.sh
