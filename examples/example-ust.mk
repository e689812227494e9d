# Included by the LTTng-UST examples' Makefiles (NAME set): `make` builds NAME
# from NAME.c and its tracepoint providers (*.h here), as record.sh does when
# it has to.
CC      ?= gcc
CFLAGS  ?= -O2 -g -Wall -Wextra
LDLIBS  := -llttng-ust -ldl -lpthread

$(NAME): $(NAME).c $(wildcard *.h) ../example.h
	$(CC) $(CFLAGS) -I. -o $@ $(NAME).c $(LDLIBS)

.PHONY: clean
clean:
	rm -f $(NAME)
