# Included by the examples' Makefiles (NAME set): `make` builds NAME from
# NAME.c, as record.sh does when it has to.
CC      ?= gcc
CFLAGS  ?= -O2 -g -Wall -Wextra
LDLIBS  := -lpthread

$(NAME): $(NAME).c ../example.h
	$(CC) $(CFLAGS) -o $@ $(NAME).c $(LDLIBS)

.PHONY: clean
clean:
	rm -f $(NAME)
