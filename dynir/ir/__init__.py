"""IR helpers shared by every level: types, constants, context, printing."""
