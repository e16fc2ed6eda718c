# Errors and texts shared by every command (owner: setup helper, src/core/).

error-rate-limited = You're going a bit fast: try again in { $seconds } s.
error-denied-dj-roles = This needs one of the DJ roles { $roles } or the Manage Server permission.
error-denied-manage-server = Only members with the Manage Server permission can change the setup.
error-denied-starter-alone = This needs one of the DJ roles { $roles } or the Manage Server permission (whoever started the radio may also stop it once alone with the bot).
error-internal = Something went wrong on my side (ref { $reference }). Please try again.
error-guild-only = This command only works in a server.
language-name = English (US)
