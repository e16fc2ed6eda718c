# /info: what the bot tells about itself.

cmd-info-description = About this bot: version, uptime, load
info-title = Alastor { $version }
info-uptime = Uptime
info-guilds = Servers
info-sessions = Playing now
info-stations = Stations
info-memory = Memory
info-latency = Gateway latency
info-unknown = not measured yet
