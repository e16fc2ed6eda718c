# Fehler und Texte, die alle Befehle teilen (Verantwortung: setup, src/core/).

error-rate-limited = Etwas zu schnell: Bitte versuche es in { $seconds } s erneut.
error-denied-dj-roles = Dafür brauchst du eine der DJ-Rollen { $roles } oder die Berechtigung „Server verwalten“.
error-denied-manage-server = Nur Mitglieder mit der Berechtigung „Server verwalten“ können die Einrichtung ändern.
error-denied-starter-alone = Dafür brauchst du eine der DJ-Rollen { $roles } oder die Berechtigung „Server verwalten“ (wer das Radio gestartet hat, darf es auch stoppen, sobald er allein mit dem Bot ist).
error-internal = Bei mir ist etwas schiefgelaufen (Referenz { $reference }). Bitte versuche es noch einmal.
error-guild-only = Dieser Befehl funktioniert nur auf einem Server.
language-name = Deutsch
