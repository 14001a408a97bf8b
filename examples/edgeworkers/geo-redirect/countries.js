export const mapping = { CH: 'ch', DE: 'de', FR: 'fr' };
