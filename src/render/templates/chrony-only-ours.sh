	if grep -qE '^(pool|server) ' /etc/chrony/chrony.conf; then
		sed -i -E 's/^(pool|server) /# disabled by piprep, see sources.d: &/' /etc/chrony/chrony.conf
		systemctl restart chrony.service
	fi
