# quiet.mk - no built-in rules, delete half-made targets, quiet output unless V=1.
MAKEFLAGS += -r --no-print-directory
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

V ?= 0
ifeq ($(V),1)
  Q :=
  say :=
else
  Q := @
  say = @printf '  %-7s %s\n' $(1) $(2);
endif
